"""Human renderings of a saved score report, computed from its typed fields only: `markdown` (report.md)
and `verdict` (the one sentence a person reads first)."""
