"""The second reader: BLAST-CT (Monteiro et al., Lancet Digit Health 2020; Apache-2.0) without the
blast-ct package. `segment.SecondReader` is the entry point; `network` the DeepMedic network,
`weights` / `convert` the checked safetensors files, `grid` the 1 mm working grid, `tiles` where
the network runs, `measure` and `results` what comes back. Importing this package imports no torch.
"""
