"""Bridges between hosts: a ring carried over ZeroMQ TCP with CURVE, sequence-checked.

RingSenderEngine reads a local ring and sends it; RingReceiverEngine, on the far host, writes
it into a ring of the same layout. BusSenderEngine / BusReceiverEngine forward selected bus
topic prefixes (engines.bridge.bus). keys: the host's CURVE key pair; zap: the peer admission.
"""

from engines.bridge.bus import BusReceiverEngine, BusSenderEngine
from engines.bridge.receiver import RingReceiverEngine
from engines.bridge.sender import RingSenderEngine

__all__ = ["BusReceiverEngine", "BusSenderEngine", "RingReceiverEngine", "RingSenderEngine"]
