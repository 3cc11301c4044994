"""Recording real markets for replay: the format, the writer, the reader and the poller."""
