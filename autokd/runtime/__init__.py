"""Where autokd runs: the settings read from the environment (`settings`), the machine's cores
and the lock latency timing and training share them by (`cores`), the training device
(`device`), facts about the machine (`environment`), the user's plug-ins (`plugins`), progress
bars (`progress`) and the process-wide state a library call puts back (`state`)."""
