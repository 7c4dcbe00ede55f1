"""Running the readers over stacks, studies and many studies (no Qt): the pipeline of one study,
and batch triage with a worklist. Imports the core, the engine and the report layer; the faces use it."""
