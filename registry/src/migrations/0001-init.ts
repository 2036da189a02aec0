import { Migration } from '@mikro-orm/migrations';

export class Init extends Migration {
  override up(): void {
    this.addSql(`create table "client_version" ("id" uuid not null, "variant" varchar(255) not null, "client_name" varchar(255) not null, "client_version" varchar(255) not null, "pushed_by" varchar(255) not null, "pushed_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "client_version" add constraint "client_version_variant_client_name_client_version_unique" unique ("variant", "client_name", "client_version");`);
    this.addSql(`create table "client_operation" ("client_version_id" uuid not null, "document_id" varchar(64) not null, "operation_name" varchar(255) null, "operation_type" varchar(255) not null, "body" text not null, primary key ("client_version_id", "document_id"));`);
    this.addSql(`create table "event_contract" ("id" uuid not null, "variant" varchar(255) not null, "type" varchar(255) not null, "topic" varchar(255) not null, "data_version" int not null, "schema" jsonb not null, "updated_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "event_contract" add constraint "event_contract_variant_type_unique" unique ("variant", "type");`);
    this.addSql(`create table "field_usage" ("variant" varchar(255) not null, "coordinate" varchar(255) not null, "client_name" varchar(255) not null, "client_version" varchar(255) not null, "day" date not null, "requests" bigint not null, "errors" bigint not null, primary key ("variant", "coordinate", "client_name", "client_version", "day"));`);
    this.addSql(`create index "field_usage_variant_day_index" on "field_usage" ("variant", "day");`);
    this.addSql(`create table "published_subgraph" ("id" uuid not null, "variant" varchar(255) not null, "name" varchar(255) not null, "routing_url" text not null, "sdl" text not null, "version" int not null, "updated_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "published_subgraph" add constraint "published_subgraph_variant_name_unique" unique ("variant", "name");`);
    this.addSql(`create table "schema_version" ("id" uuid not null, "variant" varchar(255) not null, "version" int not null, "published_by" varchar(255) not null, "author" varchar(255) null, "published_at" timestamptz not null, "summary" jsonb not null, "supergraph_id" varchar(64) not null, "supergraph_sdl" text not null, primary key ("id"));`);
    this.addSql(`alter table "schema_version" add constraint "schema_version_variant_version_unique" unique ("variant", "version");`);
    this.addSql(`alter table "client_operation" add constraint "client_operation_client_version_id_foreign" foreign key ("client_version_id") references "client_version" ("id") on delete cascade;`);
    this.addSql(`alter table "event_contract" add constraint "event_contract_data_version_check" check (data_version > 0);`);
    this.addSql(`alter table "field_usage" add constraint "field_usage_requests_check" check (requests >= 0);`);
    this.addSql(`alter table "field_usage" add constraint "field_usage_errors_check" check (errors >= 0);`);
    this.addSql(`alter table "schema_version" add constraint "schema_version_version_check" check (version > 0);`);
  }
}
