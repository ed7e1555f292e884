"""/export (a streamed zip of filtered images) and /import (such a zip back)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import StreamingResponse

from imagehost.service.archive import ImportReport, export_archive, import_archive
from imagehost.service.records import FILTER_HELP
from imagehost.web.auth import CallerDep, WriterDep
from imagehost.web.records import FILTER_PARAMETERS, data_field
from imagehost.web.schemas import error_responses
from imagehost.web.state import ContextDep

router = APIRouter(tags=["records"])


@router.get("/export", response_class=StreamingResponse,
            responses={200: {"content": {"application/zip": {"schema": {
                "type": "string", "format": "binary"}}},
                "description": "The images at their paths, manifest.json and manifest.csv."},
                **error_responses(400, 401, 403)},
            openapi_extra={"parameters": FILTER_PARAMETERS}, summary="Export a zip",
            description="Export the filtered images and their records as a zip, streamed "
                        "(sort, skip and limit do not apply). Needs the read scope.\n\n"
                        + FILTER_HELP)
async def export(request: Request, ctx: ContextDep, caller: CallerDep) -> StreamingResponse:
    chunks = await ctx.pool.run(export_archive, ctx, request.query_params.multi_items(), caller)
    return StreamingResponse(chunks, media_type="application/zip", headers={
        "Content-Disposition": 'attachment; filename="imagehost-export.zip"'})


@router.post("/import", response_model=ImportReport, summary="Import a zip",
             responses={200: {"description": "What became of each entry.", "content": {
                 "application/json": {"example": {
                     "created": 1, "updated": 1, "failed": 0, "entries": [
                         {"file": "plots/site-4/cam1.jpg", "id": 4, "result": "updated",
                          "message": None},
                         {"file": "plots/site-4/cam2.jpg", "id": 7, "result": "created",
                          "message": None}]}}}},
                 **error_responses(400, 401, 403, 413, 429, 503)})
async def import_(ctx: ContextDep, _: WriterDep,
                  archive: Annotated[UploadFile, File(description="A zip as /export makes.")],
                  data: Annotated[str | None, Form(
                      description="JSON object merged into every imported record's data.",
                      examples=['{"batch": "2024-05"}'])] = None,
                  json_field: Annotated[str | None, Form(
                      alias="json", description="Alias of data.",
                      examples=['{"batch": "2024-05"}'])] = None,
                  ) -> ImportReport:
    """Upsert every image of the archive by file, keeping the manifest's ids, times and data.
    The manifest is imagehost's manifest.json or the storage microservice's
    mongodb_data.json. A refused archive (unsafe names, zip bombs, non-image entries) writes
    nothing."""
    given = json_field if json_field is not None else data
    user_data = data_field(given) if given else {}
    return await ctx.pool.run(import_archive, ctx, archive.file, user_data)
