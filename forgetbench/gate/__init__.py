"""The release gate, a consumer of saved runs (no model is loaded): `policy` parses the TOML policy,
`decide` applies its rules to a run folder's own rows by one-sided bootstrap tests, `outputs` writes
the verdict for CI systems (JUnit XML, GitHub step summary), `power` simulates a policy's error rates."""
