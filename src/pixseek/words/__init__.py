"""Words in and about photos: OCR (``ocr``), names (``paths``), metadata (``metadata``), their
FTS5 keyword index in the catalogue (``store``, ``tokens``) and the words side of a query
(``search``). Fusion with the vector side is in ``search.fusion``."""
