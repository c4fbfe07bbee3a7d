"""What people look at: region maps aligned to frames, coloured overlays and sprite sheets for the previewer."""
