"""After a search: `export` a student as a bundle, `train` it fully with the same engine,
`validate` the search's ranking by training the front longer."""
