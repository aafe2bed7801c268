"""Delivering notifications: one bounded queue and worker per channel, retries, timeouts, secrets from files.

`Dispatcher.submit` never waits: a slow or dead channel delays neither a decision nor another channel.
"""

from receiver.notify.channels import Rejected, Retryable, send
from receiver.notify.dispatcher import Delivery, Dispatcher

__all__ = ["Delivery", "Dispatcher", "Rejected", "Retryable", "send"]
