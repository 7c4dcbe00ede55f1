"""Synthetic head CT: anatomy, lesions, DICOM writer. Imports neither Qt nor torch.

Modules (import them directly; this package imports nothing eagerly):
- dicom_writer: `SeriesSpec`, `write_series` (CT Image Storage, UID root `UID_ROOT`).
- variants: awkward loader test series, each with the canonical array a loader should produce.
- anatomy: `HeadParams`, `HeadModel.render_plane` (continuous 3-D head), `random_head_params`.
- lesions: `LesionSpec`, the five ICH subtype models, `random_lesion(s)`, labels from masks.
- scanner: slab averaging, kernel blur / noise texture, streaks.
- study: `make_study`, `write_study` (DICOM in `dicom/`, ground truth in `ground_truth/`).
- training_slices: `render_training_slice` / `render_training_stack` (fast randomised 2-D path).
"""
