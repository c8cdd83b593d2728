"""The `arm64` marker: the SAM tests that need the arm64 `sam build`. `make test` runs the
others beside the Rust tests while that build runs in the background, then these."""


def pytest_configure(config):
    config.addinivalue_line("markers", "arm64: needs the arm64 sam build (SAM_ARM64_BUILD)")
