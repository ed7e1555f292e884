"""/export (a streamed zip of filtered images) and /import (such a zip back)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import StreamingResponse

from imagehost.catalog.filters import FILTER_HELP
from imagehost.service.archive import ImportLimits, export_archive, import_archive
from imagehost.web.auth import Caller, reader, writer
from imagehost.web.records import Param, context, data_field, visible_query
from imagehost.web.schemas import ImportReport, error_responses
from imagehost.web.state import Services, services

router = APIRouter(tags=["records"])
ServicesDep = Annotated[Services, Depends(services)]


@router.get("/export", response_class=StreamingResponse,
            responses={200: {"content": {"application/zip": {"schema": {
                "type": "string", "format": "binary"}}},
                "description": "The images at their paths, manifest.json and manifest.csv."},
                **error_responses(400, 401, 403)},
            description="Export the filtered images and their records as a zip, streamed "
                        "(sort, skip and limit do not apply).\n\n" + FILTER_HELP)
async def export(request: Request, svc: ServicesDep,
                 caller: Annotated[Caller, Depends(reader)], status: Param = None,
                 file: Param = None, regex: Param = None, ids: Param = None) -> StreamingResponse:
    query = visible_query(request, caller)
    chunks = export_archive(query.filter, context(svc))
    return StreamingResponse(chunks, media_type="application/zip", headers={
        "Content-Disposition": 'attachment; filename="imagehost-export.zip"'})


@router.post("/import", response_model=ImportReport,
             responses=error_responses(400, 401, 403, 413, 503))
async def import_(svc: ServicesDep, _: Annotated[Caller, Depends(writer)],
                  archive: Annotated[UploadFile, File(description="A zip as /export makes.")],
                  data: Annotated[str | None, Form(
                      description="JSON object merged into every imported record's data.")]
                  = None) -> dict[str, Any]:
    """Upsert every image of the archive by file, keeping the manifest's ids, times and data.
    A refused archive (unsafe names, zip bombs, non-image entries) writes nothing."""
    user_data = data_field(data) if data else {}
    limits = ImportLimits(max_entries=svc.settings.import_max_entries,
                          max_entry_bytes=svc.settings.max_upload_bytes,
                          max_total_bytes=svc.settings.import_max_total_bytes,
                          max_ratio=svc.settings.import_max_ratio)
    report = await svc.pool.run(import_archive, archive.file, context(svc), limits, user_data)
    return {"created": report.count("created"), "updated": report.count("updated"),
            "failed": report.count("failed"), "entries": report.entries}

