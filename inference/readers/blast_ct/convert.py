"""Convert the BLAST-CT pickles (model_<n>.pt) to checked safetensors, once, at development time.

    python -m inference.readers.blast_ct.convert --src ../shared/models/blast-ct-v1 \
        --out resources/model/blast-ct-v1 [--members 1 2 3 ...] [--dtype float32]

Each pickle is read with `torch.load(weights_only=True)`: a pickle that would build anything but
tensors and plain containers (code) is refused and nothing in it runs. Its state dict must load
strictly into `network.BlastCtNet` before it is written. The folder also gets the licence
(`LICENSE.txt`, copied from `--src`) and a `NOTICE` naming the origin. The product only ever reads
the safetensors files (see `weights.load_member`).
"""
from __future__ import annotations

import argparse
import os
import pickle
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from inference.readers.blast_ct.weights import WeightsInfo, save_member
from inference.weights import ModelFileError, file_sha256

__all__ = ["read_pickle", "convert_member", "write_notice", "main"]

NOTICE = """\
BLAST-CT pre-trained weights, version 1 (12 ensemble members; see MODEL_CARD.md for how many ship)

Origin: https://github.com/biomedia-mira/blast-ct, commit 361e8c7 (2022-09-15),
blast_ct/data/saved_models/model_<n>.pt and blast_ct/data/config.json.
Copyright the BLAST-CT authors (BioMedIA, Imperial College London). Licensed under the Apache
License, Version 2.0 (LICENSE.txt in this folder). The authors state the software is not
intended for clinical use.

Changes made by ichview: each model_<n>.pt (a PyTorch pickle of a state dict) was read with
torch.load(weights_only=True) and its tensors re-written unchanged as model_<n>.safetensors
({dtype}), with a JSON metadata key and a SHA-256 sidecar
(inference/readers/blast_ct/convert.py). The network code is ichview's own
(inference/readers/blast_ct/network.py), tested equal to the blast-ct 2.1.0 package's.

Please cite: Monteiro M, Newcombe VFJ, Mathieu F, et al. Multiclass semantic segmentation and
quantification of traumatic brain injury lesions on head CT using deep learning: an algorithm
development and multicentre validation study. Lancet Digit Health 2020; 2(6): e314-e322.
doi:10.1016/S2589-7500(20)30085-6
"""


def read_pickle(path: Path | str) -> dict:
    """A package pickle's state dict, loaded with weights_only=True; ModelFileError when refused."""
    import torch

    path = Path(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ModelFileError(
            path,
            "refused: the pickle would build Python objects other than tensors (it may carry code); nothing was executed",
            "use the original BLAST-CT model_<n>.pt",
        ) from exc
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise ModelFileError(path, f"unreadable or truncated .pt file: {exc}", "copy the file again") from exc
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModelFileError(path, "not a plain state dict of tensors", "use the original BLAST-CT model_<n>.pt")
    return dict(obj)


def convert_member(src: Path | str, out: Path | str, member: int, dtype: str = "float32") -> str:
    """Read, check (strict load into BlastCtNet) and write one member; returns the new file's SHA-256."""
    from inference.readers.blast_ct.network import BlastCtNet

    src = Path(src)
    state = read_pickle(src)
    try:
        BlastCtNet().load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ModelFileError(src, f"does not fit the BLAST-CT network: {first}", "use the original model_<n>.pt") from exc
    info = WeightsInfo(member=member, dtype=dtype, source_sha256=file_sha256(src))
    return save_member(Path(out) / f"model_{member}.safetensors", state, info)


def write_notice(out: Path | str, dtype: str) -> None:
    """NOTICE naming the origin and the change made."""
    Path(out, "NOTICE").write_text(NOTICE.format(dtype=dtype), encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, required=True, help="folder with model_<n>.pt and LICENSE.txt")
    parser.add_argument("--out", type=Path, required=True, help="output folder (resources/model/blast-ct-v1)")
    parser.add_argument("--members", type=int, nargs="*", default=None, help="model numbers (default: all)")
    parser.add_argument("--dtype", choices=("float32", "float16"), default="float32")
    args = parser.parse_args(argv)
    members = args.members or sorted(int(p.stem.split("_")[1]) for p in args.src.glob("model_*.pt"))
    args.out.mkdir(parents=True, exist_ok=True)
    for n in members:
        digest = convert_member(args.src / f"model_{n}.pt", args.out, n, args.dtype)
        for made in (args.out / f"model_{n}.safetensors", args.out / f"model_{n}.safetensors.sha256"):
            os.chmod(made, 0o644)  # written via a private temporary file (0600)
        print(f"model_{n}.safetensors  {digest}")
    shutil.copyfile(args.src / "LICENSE.txt", args.out / "LICENSE.txt")
    write_notice(args.out, args.dtype)
    return 0


if __name__ == "__main__":
    sys.exit(main())
