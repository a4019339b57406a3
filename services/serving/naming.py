"""How workers name what they host and report, shared by the control plane and the worker.

The stable revision is hosted under the deployment's name, a canary or shadow as
`<deployment>@r<revision>`. A shadow's compared copies are reported apart, under the hosted name plus
SHADOW_SUFFIX (deployment names cannot contain '#').
"""

SHADOW_SUFFIX = "#shadow"
