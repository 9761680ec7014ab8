"""Network families shared by every method, registered by name (``model.arch``) through :data:`ENTRIES`."""

from harness.config.registry import ArchEntry

ENTRIES = [
    ArchEntry("dcgan", "harness.nets.families:DCGAN"),
    ArchEntry("resnet", "harness.nets.families:RESNET"),
]
