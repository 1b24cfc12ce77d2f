-- One database per service.
CREATE DATABASE complaints;
CREATE DATABASE notifications;
CREATE DATABASE audit;
