"""Table and Queue storage behind small interfaces (see :mod:`.tables` and :mod:`.queues`)."""
