"""The pure core: the contract and what follows from it, knowing nothing of HTTP.

Contract loading and response checks, request validation, sizes, prices and the ledger, fault rules, the journal,
URL signing, rate-limit windows, placeholder rendering (`images/`), edit forms, stream frames, cassettes and the
frozen settings. Each takes plain values (bytes, dicts, dataclasses) and gives plain values or an `ApiError`.
"""
