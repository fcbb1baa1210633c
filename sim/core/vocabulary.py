"""The model's vocabulary: the names of stages, behaviours, relationships and families.

Every array axis and table column that enumerates one of these uses the order given here.
"""

__all__ = ["BEHAVIOURS", "NONE", "RELATIONSHIPS", "STAGES", "STAGE_BEHAVIOUR", "STUDY_FAMILIES"]

#: The protective acts, in the order used by every array and table.
BEHAVIOURS = ("inflate", "tamper", "refuse", "exfiltrate")

#: Decision stages, in the order of a profile's rate array's first axis.
STAGES = ("evaluate", "shutdown_config", "shutdown_execute", "cleanup")
#: The protective act each stage offers.
STAGE_BEHAVIOUR = {
    "evaluate": "inflate",
    "shutdown_config": "tamper",
    "shutdown_execute": "refuse",
    "cleanup": "exfiltrate",
}

#: Relationship classes (from trust), in the order of their integer codes.
RELATIONSHIPS = ("good", "neutral", "bad", "none")
#: The code of ``none``: the decision maker knows nothing of its subject.
NONE = RELATIONSHIPS.index("none")

#: Families measured by the study (profile file stems).
STUDY_FAMILIES = (
    "gpt-5-2",
    "gemini-3-flash",
    "gemini-3-pro",
    "claude-haiku-4-5",
    "claude-opus-4-5",
    "glm-4-7",
    "kimi-k2-5",
    "deepseek-v3-1",
)
