"""Find studies and series on a node: C-FIND (Study Root), or QIDO-RS when asked and a DICOMweb URL is set.

Matching follows DICOM: `*` and `?` wildcards in names, IDs and descriptions; a date range is
`YYYYMMDD-YYYYMMDD` (either end may be open). Results are plain frozen dataclasses.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from viewer.pacs.connect import association, check_alive
from viewer.pacs.errors import NodeConfigError, QueryFailedError
from viewer.pacs.nodes import LocalAE, PacsNode


@dataclass(frozen=True)
class StudyQuery:
    """What to look for ('' matches anything)."""

    patient_name: str = ""
    patient_id: str = ""
    date_from: str = ""  # YYYYMMDD
    date_to: str = ""
    modality: str = ""  # e.g. "CT": studies holding that modality
    accession: str = ""
    description: str = ""
    study_uid: str = ""

    def date_range(self) -> str:
        if not (self.date_from or self.date_to):
            return ""
        for d in (self.date_from, self.date_to):
            if d and not (len(d) == 8 and d.isdigit()):
                raise QueryFailedError(f"date {d!r} is not YYYYMMDD")
        return f"{self.date_from}-{self.date_to}" if self.date_from != self.date_to else self.date_from


@dataclass(frozen=True)
class StudyMatch:
    study_uid: str
    patient_name: str
    patient_id: str
    study_date: str
    study_time: str
    accession: str
    description: str
    modalities: tuple[str, ...]
    n_series: int | None
    n_instances: int | None


@dataclass(frozen=True)
class SeriesMatch:
    study_uid: str
    series_uid: str
    modality: str
    series_number: int | None
    description: str
    n_instances: int | None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _text(ds: Any, keyword: str) -> str:
    value = ds.get(keyword, "")
    return "" if value is None else str(value)


def _study_identifier(q: StudyQuery) -> Any:
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.StudyInstanceUID = q.study_uid
    ds.PatientName = q.patient_name
    ds.PatientID = q.patient_id
    ds.StudyDate = q.date_range()
    ds.StudyTime = ""
    ds.AccessionNumber = q.accession
    ds.StudyDescription = q.description
    ds.ModalitiesInStudy = q.modality
    ds.NumberOfStudyRelatedSeries = None
    ds.NumberOfStudyRelatedInstances = None
    ds.SpecificCharacterSet = "ISO_IR 192"
    return ds


def _study_match(ds: Any) -> StudyMatch:
    mods = ds.get("ModalitiesInStudy") or ""
    items = str(mods).split("\\") if isinstance(mods, str) else [str(m) for m in mods]
    modalities = tuple(m for m in items if m)
    return StudyMatch(
        study_uid=_text(ds, "StudyInstanceUID"),
        patient_name=_text(ds, "PatientName"),
        patient_id=_text(ds, "PatientID"),
        study_date=_text(ds, "StudyDate"),
        study_time=_text(ds, "StudyTime"),
        accession=_text(ds, "AccessionNumber"),
        description=_text(ds, "StudyDescription"),
        modalities=modalities,
        n_series=_int(ds.get("NumberOfStudyRelatedSeries")),
        n_instances=_int(ds.get("NumberOfStudyRelatedInstances")),
    )


def _series_match(ds: Any, study_uid: str) -> SeriesMatch:
    return SeriesMatch(
        study_uid=_text(ds, "StudyInstanceUID") or study_uid,
        series_uid=_text(ds, "SeriesInstanceUID"),
        modality=_text(ds, "Modality"),
        series_number=_int(ds.get("SeriesNumber")),
        description=_text(ds, "SeriesDescription"),
        n_instances=_int(ds.get("NumberOfSeriesRelatedInstances")),
    )


def _c_find(node: PacsNode, local: LocalAE, identifier: Any, doing: str) -> list[Any]:
    from pynetdicom import build_context
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind as FIND

    out = []
    with association(node, local, [build_context(FIND)], purpose=doing) as assoc:
        for status, ds in assoc.send_c_find(identifier, FIND):
            if not status:
                check_alive(assoc, node, doing)
            code = int(status.Status)
            if code in (0xFF00, 0xFF01):
                if ds is not None:
                    out.append(ds)
            elif code == 0x0000:
                break
            else:
                raise QueryFailedError(f"{node.describe()} answered the {doing} with status 0x{code:04X}")
    return out


def find_studies(node: PacsNode, local: LocalAE, query: StudyQuery, *, via: str = "dimse") -> list[StudyMatch]:
    """Studies matching `query`, by C-FIND ("dimse") or QIDO-RS ("dicomweb")."""
    if via == "dicomweb":
        return [_study_match(ds) for ds in _qido(node, "studies", _qido_params(query))]
    return [_study_match(ds) for ds in _c_find(node, local, _study_identifier(query), "study query")]


def find_series(node: PacsNode, local: LocalAE, study_uid: str, *, via: str = "dimse") -> list[SeriesMatch]:
    """The series of one study."""
    if via == "dicomweb":
        rows = _qido(node, f"studies/{study_uid}/series", {"includefield": "00201209"})
        return [_series_match(ds, study_uid) for ds in rows]
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.QueryRetrieveLevel = "SERIES"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = ""
    ds.Modality = ""
    ds.SeriesNumber = None
    ds.SeriesDescription = ""
    ds.NumberOfSeriesRelatedInstances = None
    return [_series_match(r, study_uid) for r in _c_find(node, local, ds, "series query")]


def _qido_params(q: StudyQuery) -> dict[str, str]:
    pairs = {
        "StudyInstanceUID": q.study_uid,
        "PatientName": q.patient_name,
        "PatientID": q.patient_id,
        "StudyDate": q.date_range(),
        "ModalitiesInStudy": q.modality,
        "AccessionNumber": q.accession,
        "StudyDescription": q.description,
    }
    # Orthanc's DICOMweb plugin (1.7) matches nothing when a value holds a space, encoded or not; a
    # `?` (any one character) in its place finds the same studies.
    params = {k: v.replace(" ", "?") for k, v in pairs.items() if v}
    params["includefield"] = "00080061,00201206,00201208,00081030"
    return params


def _qido(node: PacsNode, path: str, params: dict[str, str]) -> list[Any]:
    from viewer.pacs.dicomweb import qido_json

    if not node.dicomweb_url:
        raise NodeConfigError(f"{node.describe()} has no dicomweb_url; set it or query by DIMSE")
    from pydicom.dataset import Dataset

    return [Dataset.from_json(item) for item in qido_json(node, path, params)]
