-- One database per service (database-per-service): no service reads another's tables.
-- Run once by the postgres image's entrypoint on an empty data directory.
CREATE DATABASE mlops_gateway;
CREATE DATABASE mlops_dataset;
CREATE DATABASE mlops_training;
CREATE DATABASE mlops_registry;
CREATE DATABASE mlops_serving;
