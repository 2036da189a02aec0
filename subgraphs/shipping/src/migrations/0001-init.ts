import { Migration } from '@mikro-orm/migrations';

export class Init extends Migration {
  override up(): void {
    this.addSql(`create table "shipment" ("id" uuid not null, "order_id" uuid not null, "user_id" uuid not null, "status" text not null default 'PENDING', "tracking_number" varchar(12) not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "shipment" add constraint "shipment_order_id_unique" unique ("order_id");`);
    this.addSql(`alter table "shipment" add constraint "shipment_tracking_number_unique" unique ("tracking_number");`);
    this.addSql(`create table "shipment_event" ("shipment_id" uuid not null, "status" text not null, "description" text not null, "at" timestamptz not null, primary key ("shipment_id", "status"));`);
    this.addSql(`alter table "shipment" add constraint "shipment_status_check" check ("status" in ('PENDING', 'SHIPPED', 'DELIVERED', 'CANCELLED'));`);
    this.addSql(`alter table "shipment_event" add constraint "shipment_event_shipment_id_foreign" foreign key ("shipment_id") references "shipment" ("id") on delete cascade;`);
    this.addSql(`alter table "shipment_event" add constraint "shipment_event_status_check" check ("status" in ('PENDING', 'SHIPPED', 'DELIVERED', 'CANCELLED'));`);
  }
}
