"""Editors' timelines: reading MLT/Kdenlive XML (and OTIO formats) and working out which source frame shows at each timeline frame."""
