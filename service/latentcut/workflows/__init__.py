"""Whole workflows made of the layers below: journeys in batches with their Kdenlive project and sheet, and the first-run demo."""
