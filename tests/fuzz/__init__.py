"""The fuzz suite (a package, so that its conftest is `fuzz.conftest`, not a second `conftest`)."""
