-- A database written by dockwatch 0.1.0 (commit 805f2a6), dumped with sqlite3 .dump.
-- Made by tests/data/make_dockwatch_0_1_0.py; see its docstring for what it holds. Do not edit by hand.
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE docking_record (
	id INTEGER NOT NULL, 
	docking DATETIME, 
	departure DATETIME, 
	port_id INTEGER NOT NULL, 
	port_name VARCHAR NOT NULL, 
	station_id INTEGER, 
	station_name VARCHAR, 
	station_image_url VARCHAR, 
	chaser_kind VARCHAR, 
	chaser_id INTEGER, 
	chaser_name VARCHAR, 
	chaser_image_url VARCHAR, 
	target_kind VARCHAR, 
	target_id INTEGER, 
	target_name VARCHAR, 
	target_image_url VARCHAR, 
	raw JSON NOT NULL, 
	first_seen DATETIME NOT NULL, 
	last_seen DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO docking_record VALUES(1,'2025-12-12 11:00:00.000000',NULL,1,'Unity nadir',4,'International Space Station','https://img.test/iss.jpg','spacecraft_flight',877,'Cargo Dragon C209','https://img.test/877.jpg','space_station',4,'International Space Station','https://img.test/iss.jpg','{"id": 1, "url": "https://ll.test/2.3.0/docking_events/1/", "docking": "2025-12-12T11:00:00Z", "departure": null, "docking_location": {"id": 1, "name": "Unity nadir", "spacestation": {"id": 4, "name": "International Space Station", "image": {"image_url": "https://img.test/iss.jpg"}}}, "space_station_target": {"id": 4, "name": "International Space Station", "image": {"image_url": "https://img.test/iss.jpg"}}, "flight_vehicle_target": null, "payload_flight_target": null, "flight_vehicle_chaser": {"id": 877, "spacecraft": {"id": 10877, "name": "Cargo Dragon C209", "image": {"image_url": "https://img.test/877.jpg"}}}, "space_station_chaser": null, "payload_flight_chaser": null}','2026-01-01 11:00:00.000000','2026-01-01 11:20:00.000000');
INSERT INTO docking_record VALUES(630,'2026-01-01 11:08:00.000000',NULL,30,'Harmony zenith',4,'International Space Station','https://img.test/iss.jpg','spacecraft_flight',878,'Crew Dragon C212','https://img.test/878.jpg','space_station',4,'International Space Station','https://img.test/iss.jpg','{"id": 630, "url": "https://ll.test/2.3.0/docking_events/630/", "docking": "2026-01-01T11:08:00Z", "departure": null, "docking_location": {"id": 30, "name": "Harmony zenith", "spacestation": {"id": 4, "name": "International Space Station", "image": {"image_url": "https://img.test/iss.jpg"}}}, "space_station_target": {"id": 4, "name": "International Space Station", "image": {"image_url": "https://img.test/iss.jpg"}}, "flight_vehicle_target": null, "payload_flight_target": null, "flight_vehicle_chaser": {"id": 878, "spacecraft": {"id": 10878, "name": "Crew Dragon C212", "image": {"image_url": "https://img.test/878.jpg"}}}, "space_station_chaser": null, "payload_flight_chaser": null}','2026-01-01 11:10:00.000000','2026-01-01 11:20:00.000000');
INSERT INTO docking_record VALUES(631,'2026-01-01 11:18:00.000000',NULL,31,'Harmony forward',4,'International Space Station','https://img.test/iss.jpg','spacecraft_flight',877,'Cargo Dragon C209','https://img.test/877.jpg','space_station',4,'International Space Station','https://img.test/iss.jpg','{"id": 631, "url": "https://ll.test/2.3.0/docking_events/631/", "docking": "2026-01-01T11:18:00Z", "departure": null, "docking_location": {"id": 31, "name": "Harmony forward", "spacestation": {"id": 4, "name": "International Space Station", "image": {"image_url": "https://img.test/iss.jpg"}}}, "space_station_target": {"id": 4, "name": "International Space Station", "image": {"image_url": "https://img.test/iss.jpg"}}, "flight_vehicle_target": null, "payload_flight_target": null, "flight_vehicle_chaser": {"id": 877, "spacecraft": {"id": 10877, "name": "Cargo Dragon C209", "image": {"image_url": "https://img.test/877.jpg"}}}, "space_station_chaser": null, "payload_flight_chaser": null}','2026-01-01 11:20:00.000000','2026-01-01 11:20:00.000000');
INSERT INTO docking_record VALUES(100000,'2024-01-10 00:00:00.000000','2024-03-01 00:00:00.000000',99,'Poisk zenith',4,'International Space Station','https://img.test/iss.jpg','spacecraft_flight',99999,'Soyuz MS-24','https://img.test/99999.jpg','space_station',4,'International Space Station','https://img.test/iss.jpg','{"id": 100000, "url": "https://ll.test/2.3.0/docking_events/100000/", "docking": "2024-01-10T00:00:00Z", "departure": "2024-03-01T00:00:00Z", "docking_location": {"id": 99, "name": "Poisk zenith", "spacestation": {"id": 4, "name": "International Space Station", "image": {"image_url": "https://img.test/iss.jpg"}}}, "space_station_target": {"id": 4, "name": "International Space Station", "image": {"image_url": "https://img.test/iss.jpg"}}, "flight_vehicle_target": null, "payload_flight_target": null, "flight_vehicle_chaser": {"id": 99999, "spacecraft": {"id": 109999, "name": "Soyuz MS-24", "image": {"image_url": "https://img.test/99999.jpg"}}}, "space_station_chaser": null, "payload_flight_chaser": null}','2026-01-01 11:00:00.000000','2026-01-01 11:20:00.000000');
CREATE TABLE event_record (
	id INTEGER NOT NULL, 
	name VARCHAR NOT NULL, 
	date DATETIME, 
	type_name VARCHAR, 
	location VARCHAR, 
	webcast_live BOOLEAN NOT NULL, 
	webcast_url VARCHAR, 
	webcast_start DATETIME, 
	image_url VARCHAR, 
	raw JSON NOT NULL, 
	first_seen DATETIME NOT NULL, 
	last_seen DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO event_record VALUES(5,'Crew-12 Docking','2026-01-03 11:00:00.000000','Docking','International Space Station',0,'https://www.youtube.com/watch?v=test',NULL,'https://img.test/event.jpg','{"id": 5, "name": "Crew-12 Docking", "date": "2026-01-03T11:00:00Z", "webcast_live": false, "type": {"id": 2, "name": "Docking"}, "location": "International Space Station", "image": {"image_url": "https://img.test/event.jpg"}, "vid_urls": [{"priority": 10, "url": "https://www.youtube.com/watch?v=test", "live": false, "title": "Crew-12 Docking"}]}','2026-01-01 11:00:00.000000','2026-01-01 11:20:00.000000');
CREATE TABLE notification (
	id INTEGER NOT NULL, 
	"key" VARCHAR NOT NULL, 
	kind VARCHAR NOT NULL, 
	announced BOOLEAN NOT NULL, 
	payload JSON NOT NULL, 
	occurred_at DATETIME NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO notification VALUES(1,'docked:100000','docking.docked',0,'{"kind": "docking.docked", "key": "docked:100000", "occurred_at": "2024-01-10T00:00:00Z", "docking_event_id": 100000, "event_id": null, "station": {"id": 4, "name": "International Space Station"}, "port": {"id": 99, "name": "Poisk zenith"}, "previous_port": null, "vehicle": {"id": 99999, "name": "Soyuz MS-24", "kind": "spacecraft_flight"}, "target": {"id": 4, "name": "International Space Station", "kind": "space_station"}, "location": "International Space Station", "docking": "2024-01-10T00:00:00Z", "departure": "2024-03-01T00:00:00Z", "docked_seconds": null, "event_name": null, "event_type": null, "event_date": null, "image_url": "https://img.test/99999.jpg", "webcast_url": null}','2024-01-10 00:00:00.000000','2026-01-01 11:00:00.000000');
INSERT INTO notification VALUES(2,'departed:100000','docking.departed',0,'{"kind": "docking.departed", "key": "departed:100000", "occurred_at": "2024-03-01T00:00:00Z", "docking_event_id": 100000, "event_id": null, "station": {"id": 4, "name": "International Space Station"}, "port": {"id": 99, "name": "Poisk zenith"}, "previous_port": null, "vehicle": {"id": 99999, "name": "Soyuz MS-24", "kind": "spacecraft_flight"}, "target": {"id": 4, "name": "International Space Station", "kind": "space_station"}, "location": "International Space Station", "docking": "2024-01-10T00:00:00Z", "departure": "2024-03-01T00:00:00Z", "docked_seconds": 4406400, "event_name": null, "event_type": null, "event_date": null, "image_url": "https://img.test/99999.jpg", "webcast_url": null}','2024-03-01 00:00:00.000000','2026-01-01 11:00:00.000000');
INSERT INTO notification VALUES(3,'docked:1','docking.docked',0,'{"kind": "docking.docked", "key": "docked:1", "occurred_at": "2025-12-12T11:00:00Z", "docking_event_id": 1, "event_id": null, "station": {"id": 4, "name": "International Space Station"}, "port": {"id": 1, "name": "Unity nadir"}, "previous_port": null, "vehicle": {"id": 877, "name": "Cargo Dragon C209", "kind": "spacecraft_flight"}, "target": {"id": 4, "name": "International Space Station", "kind": "space_station"}, "location": "International Space Station", "docking": "2025-12-12T11:00:00Z", "departure": null, "docked_seconds": null, "event_name": null, "event_type": null, "event_date": null, "image_url": "https://img.test/877.jpg", "webcast_url": null}','2025-12-12 11:00:00.000000','2026-01-01 11:00:00.000000');
INSERT INTO notification VALUES(4,'docked:630','docking.docked',1,'{"kind": "docking.docked", "key": "docked:630", "occurred_at": "2026-01-01T11:08:00Z", "docking_event_id": 630, "event_id": null, "station": {"id": 4, "name": "International Space Station"}, "port": {"id": 30, "name": "Harmony zenith"}, "previous_port": null, "vehicle": {"id": 878, "name": "Crew Dragon C212", "kind": "spacecraft_flight"}, "target": {"id": 4, "name": "International Space Station", "kind": "space_station"}, "location": "International Space Station", "docking": "2026-01-01T11:08:00Z", "departure": null, "docked_seconds": null, "event_name": null, "event_type": null, "event_date": null, "image_url": "https://img.test/878.jpg", "webcast_url": null}','2026-01-01 11:08:00.000000','2026-01-01 11:10:00.000000');
INSERT INTO notification VALUES(5,'docked:631','docking.docked',1,'{"kind": "docking.docked", "key": "docked:631", "occurred_at": "2026-01-01T11:18:00Z", "docking_event_id": 631, "event_id": null, "station": {"id": 4, "name": "International Space Station"}, "port": {"id": 31, "name": "Harmony forward"}, "previous_port": null, "vehicle": {"id": 877, "name": "Cargo Dragon C209", "kind": "spacecraft_flight"}, "target": {"id": 4, "name": "International Space Station", "kind": "space_station"}, "location": "International Space Station", "docking": "2026-01-01T11:18:00Z", "departure": null, "docked_seconds": null, "event_name": null, "event_type": null, "event_date": null, "image_url": "https://img.test/877.jpg", "webcast_url": null}','2026-01-01 11:18:00.000000','2026-01-01 11:20:00.000000');
CREATE TABLE target (
	"key" VARCHAR NOT NULL, 
	notifier VARCHAR NOT NULL, 
	label VARCHAR NOT NULL, 
	source VARCHAR NOT NULL, 
	configured BOOLEAN NOT NULL, 
	enabled BOOLEAN NOT NULL, 
	kinds JSON, 
	stations JSON, 
	disabled_reason VARCHAR, 
	disabled_at DATETIME, 
	PRIMARY KEY ("key")
);
INSERT INTO target VALUES('webhook:a38930c380be8d6a','webhook','fixture a','config',1,1,'null','null',NULL,NULL);
INSERT INTO target VALUES('webhook:01721a2a1930feaf','webhook','fixture b','config',1,0,'null','null','HTTP 410 Gone','2026-01-01 11:05:00.000000');
INSERT INTO target VALUES('telegram:12345','telegram','Launch fans','config',1,1,'["docking.departed"]','["iss"]',NULL,NULL);
CREATE TABLE poll_log (
	id INTEGER NOT NULL, 
	started_at DATETIME NOT NULL, 
	finished_at DATETIME NOT NULL, 
	result VARCHAR NOT NULL, 
	detail VARCHAR, 
	changes_recorded INTEGER NOT NULL, 
	changes_announced INTEGER NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO poll_log VALUES(1,'2026-01-01 11:00:00.000000','2026-01-01 11:00:00.000000','ok',NULL,3,0);
INSERT INTO poll_log VALUES(2,'2026-01-01 11:10:00.000000','2026-01-01 11:10:00.000000','ok',NULL,1,1);
INSERT INTO poll_log VALUES(3,'2026-01-01 11:20:00.000000','2026-01-01 11:20:00.000000','ok',NULL,1,1);
CREATE TABLE api_call (
	id INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	path VARCHAR NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO api_call VALUES(1,'2026-01-01 11:00:00.000000','/docking_events/');
CREATE TABLE api_hold (
	id INTEGER NOT NULL, 
	until DATETIME NOT NULL, 
	reason VARCHAR NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE delivery (
	id INTEGER NOT NULL, 
	notification_id INTEGER NOT NULL, 
	target_key VARCHAR NOT NULL, 
	status VARCHAR NOT NULL, 
	attempts INTEGER NOT NULL, 
	next_attempt_at DATETIME NOT NULL, 
	last_error VARCHAR, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	delivered_at DATETIME, 
	PRIMARY KEY (id), 
	UNIQUE (notification_id, target_key), 
	FOREIGN KEY(notification_id) REFERENCES notification (id)
);
INSERT INTO delivery VALUES(1,4,'webhook:a38930c380be8d6a','delivered',1,'2026-01-01 11:12:00.000000',NULL,'2026-01-01 11:10:00.000000','2026-01-01 11:10:00.000000','2026-01-01 11:10:00.000000');
INSERT INTO delivery VALUES(2,5,'webhook:a38930c380be8d6a','queued',1,'2026-01-01 11:21:00.000000','HTTP 502','2026-01-01 11:20:00.000000','2026-01-01 11:20:00.000000',NULL);
CREATE UNIQUE INDEX ix_notification_key ON notification ("key");
CREATE INDEX ix_poll_log_started_at ON poll_log (started_at);
CREATE INDEX ix_api_call_at ON api_call (at);
CREATE INDEX ix_delivery_due ON delivery (status, next_attempt_at);
CREATE INDEX ix_delivery_target_key ON delivery (target_key);
COMMIT;
