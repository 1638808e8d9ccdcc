"""The one door to Kafka: consumer wrapper, dead-letter producer, offset bookkeeping.

Only `consumer` and `dead_letter` import confluent_kafka; `offsets` is plain data.
"""
