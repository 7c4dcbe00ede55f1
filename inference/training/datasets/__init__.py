"""Training and evaluation data: synthetic set, held-out set, RSNA 2019 reader, input cache."""
