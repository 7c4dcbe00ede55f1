"""StudyMetadata of a volume, from a slice's header `meta` (str values keyed by DICOM keyword)."""
from __future__ import annotations

from collections.abc import Mapping

from pydicom.dataset import Dataset

from viewer.core.volume import StudyMetadata

_TEXT_FIELDS: dict[str, str] = {
    "patient_name": "PatientName",
    "patient_id": "PatientID",
    "patient_birth_date": "PatientBirthDate",
    "patient_sex": "PatientSex",
    "study_uid": "StudyInstanceUID",
    "study_date": "StudyDate",
    "study_time": "StudyTime",
    "study_description": "StudyDescription",
    "accession_number": "AccessionNumber",
    "institution": "InstitutionName",
    "series_uid": "SeriesInstanceUID",
    "series_description": "SeriesDescription",
    "modality": "Modality",
    "manufacturer": "Manufacturer",
    "model_name": "ManufacturerModelName",
    "body_part": "BodyPartExamined",
    "convolution_kernel": "ConvolutionKernel",
    "contrast_agent": "ContrastBolusAgent",
    "specific_character_set": "SpecificCharacterSet",
}


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)  # type: ignore[union-attr]
    return str(value).strip()


def _number(text: str) -> float | None:
    try:
        return float(text.split("\\")[0])
    except (ValueError, IndexError):
        return None


def study_metadata(
    meta: Mapping[str, str], dataset: Dataset | None = None, **known: str
) -> StudyMetadata:
    """Build StudyMetadata from `meta` (scan.py's SliceHeader.meta); a keyword missing there is
    taken from `dataset` (a decoded file of the same series, names decoded with its Specific
    Character Set by pydicom), then from `known` (e.g. study_uid=..., series_uid=...)."""

    def get(keyword: str) -> str:
        if meta.get(keyword):
            return str(meta[keyword])
        if dataset is not None and keyword in dataset:
            return _text(dataset.get(keyword))
        return ""

    fields: dict[str, object] = {}
    for name, keyword in _TEXT_FIELDS.items():
        fields[name] = get(keyword) or known.get(name, "")
    series_number = _number(get("SeriesNumber"))
    fields["series_number"] = int(series_number) if series_number is not None else None
    fields["kvp"] = _number(get("KVP"))
    image_type = get("ImageType")
    fields["image_type"] = tuple(p for p in image_type.split("\\") if p) if image_type else ()
    return StudyMetadata(**fields)  # type: ignore[arg-type]
