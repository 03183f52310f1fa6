"""The web dashboard: ``litejobs dashboard DB`` (needs ``pip install 'litejobs[dashboard]'``)."""
