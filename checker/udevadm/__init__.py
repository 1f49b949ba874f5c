"""Talking to the live udev daemon through udevadm.

- `calls`: every udevadm call, logged, bounded by a timeout, failures as clear errors
- `owed`: the calls a repair owes udev, remembered until they succeed
"""
