"""Re-conforming a project every time it is saved and sending the result to a render daemon."""
