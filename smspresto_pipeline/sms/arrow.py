"""The Arrow memory pool and types that column-wise work shares: the number rules of
:mod:`~smspresto_pipeline.sms.numbering`, and the warehouse's staging and day replacement."""

import pyarrow as pa

__all__ = ["POOL", "STRING"]

#: Staged pages come and go by the thousand: the system allocator hands their memory back,
#: where Arrow's default pool (mimalloc) keeps it, and the process would stay tens of MB larger.
POOL = pa.system_memory_pool()
STRING = pa.string()
