"""The local stack: Apache Kafka (KRaft) and Redis as processes, without Docker
(``local``), and the certificates and SCRAM secrets of its 3-broker cluster (``tls``)."""
