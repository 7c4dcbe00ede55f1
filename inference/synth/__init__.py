"""Synthetic head CT: anatomy, lesions, DICOM writer. Imports neither Qt nor torch."""
