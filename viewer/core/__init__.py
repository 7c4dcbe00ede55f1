"""The study core: scan, group, order, decode and window DICOM. Never imports Qt."""
