"""One stage a module, each with one job; `receiver.pipeline.pipeline` composes them.

resolve targets -> decide -> reserve -> act (rollback | dry-run | wait | decline) -> verify -> report
"""
