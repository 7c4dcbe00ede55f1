"""DICOM networking (no Qt): PACS nodes, echo, query, retrieve into a per-user cache, a storage SCP
that analyses pushed studies, and sending results back. Imports only viewer.core; what to do with a
received study (the analysis) is passed in by the faces (viewer.cli.listen)."""
