"""The `mlplatform` command line: spec validation now; serving and simulation as they land."""
