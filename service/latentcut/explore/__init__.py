"""The web explorer (``latentcut explore``): choose transitions by looking at them, save them into the Kdenlive workflow."""
