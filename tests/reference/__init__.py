"""Test-only reference code: detection generators and a vendored lvis-api evaluator."""
