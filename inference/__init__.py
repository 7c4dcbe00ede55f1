"""Qt-free hemorrhage inference. Import torch lazily: `inference.synth` must stay torch-free."""
