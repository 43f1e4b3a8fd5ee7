"""Library behind the workflow's rule scripts: each step is a plain function tests can call."""
