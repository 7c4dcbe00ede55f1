"""The engine's readers of a head CT volume.

- The first reader is ours: the engine's top-level modules `inference.preprocess`,
  `inference.model`, `inference.gradcam` and `inference.predict` (a fast 2D CNN giving per-slice
  probabilities of each hemorrhage subtype and Grad-CAM heatmaps).
- The second reader is BLAST-CT (`inference.readers.blast_ct`): a 3D CNN trained on real,
  manually segmented head CT, giving a voxel label map (IPH, extra-axial blood, oedema, IVH) and
  lesion volumes in mL.

Importing this package imports no torch; each reader imports it when loaded.
"""
