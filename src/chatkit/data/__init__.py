"""Living with the data: retention sweeps, a tenant's export and its erasure.

`remove_idle(store, days)` deletes the threads nobody wrote to for `days` days, in short
batches; `erase_tenant(store, context)` deletes everything one tenant owns and reports what went;
`export_tenant(store, context, directory)` writes it all out as JSON Lines in the wire format plus
the files. Each takes the server's `attachment_store=` so files go (or come) with their rows.
`RetentionSweeper` runs `remove_idle` periodically (`chatkit serve --retain-days N`). The same
operations are on the command line: `chatkit retention`, `chatkit export`, `chatkit erase`.
`copy_store(source, target)` copies every tenant's data into another store, resumably, and
verifies the result (`chatkit copy FROM TO`).
"""

from chatkit.data._copy import CopyProgress, CopyReport, copy_store
from chatkit.data._export import ExportReport, export_tenant
from chatkit.data._removal import DEFAULT_BATCH_SIZE, RemovalReport, TenantFiles, erase_tenant, remove_idle
from chatkit.data._sweeper import RetentionSweeper

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "CopyProgress",
    "CopyReport",
    "ExportReport",
    "RemovalReport",
    "RetentionSweeper",
    "TenantFiles",
    "copy_store",
    "erase_tenant",
    "export_tenant",
    "remove_idle",
]
