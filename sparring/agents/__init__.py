"""Who acts: roles (prompt + parser + sampling) bound to policies (engines, random, scripted)."""

from sparring.agents.engine import InferenceEngine
from sparring.agents.policies import Agent, EnginePolicy, RandomPolicy, ScriptedPolicy, chat_prompt_ids
from sparring.agents.roles import Role, seat_roles

__all__ = [
    "Agent", "EnginePolicy", "InferenceEngine", "RandomPolicy", "Role", "ScriptedPolicy",
    "chat_prompt_ids", "seat_roles",
]
