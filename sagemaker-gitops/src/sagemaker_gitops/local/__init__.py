"""Local-first: run the pipeline definition on this machine against an emulated (or real) AWS.

emulator.py     `mlops local up|down|status`: a moto server for this project, state kept across restarts
moto_server.py  the server process itself
definition.py   the definition JSON as a step graph, checked before anything runs
expressions.py  Parameters, Execution variables, step properties, Std:Join, Std:JsonGet, conditions
jobs.py         Processing and Training jobs as subprocesses in SageMaker's container layout
runner.py       `mlops local run`: walks the graph in dependency order
"""
