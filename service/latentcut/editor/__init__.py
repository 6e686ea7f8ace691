"""The editor's edge: Kdenlive and MLT conventions (projects written and read for keys and guides, MLT's environment, whole-project renders through melt, the project's soundtrack)."""
