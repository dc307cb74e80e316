"""Client-side tools, on top of everything: the pytest plugin and `MockHandle`, Hypothesis strategies,
`aiml-mock verify`, `check` and `drift`, and the model catalogue's docs generator."""
